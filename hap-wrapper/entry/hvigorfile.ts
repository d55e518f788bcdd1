// SPDX-License-Identifier: GPL-2.0-or-later
// hvigor's module-level build script: the stock HAP tasks, nothing added.
import { hapTasks } from '@ohos/hvigor-ohos-plugin';

export default {
  system: hapTasks,
  plugins: []
};
