// SPDX-License-Identifier: GPL-2.0-or-later
// hvigor's project-level build script: the stock app tasks, nothing added.
import { appTasks } from '@ohos/hvigor-ohos-plugin';

export default {
  system: appTasks,
  plugins: []
};
