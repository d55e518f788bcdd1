/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vm_unattend: see vm_unattend.h. Pure. */
#include "vm_unattend.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "utf8.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* V as a string of at most BUFLEN-1 bytes of UTF-8 without control characters, into BUF. */
static int text(json_t *v, const char *field, char *buf, size_t buflen, char *err, size_t errlen) {
  if (!json_is_string(v))
    return fail(err, errlen, "%s: must be a string", field);
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  if (len != strlen(s))
    return fail(err, errlen, "%s: must not contain NUL bytes", field);
  if (len >= buflen)
    return fail(err, errlen, "%s: must be at most %zu bytes", field, buflen - 1);
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = utf8_decode((const unsigned char *)s + i, len - i, &cp);
    if (n == 0)
      return fail(err, errlen, "%s: must be valid UTF-8", field);
    if (cp < 0x20 || cp == 0x7f)
      return fail(err, errlen, "%s: must not contain control characters", field);
    i += n;
  }
  memcpy(buf, s, len + 1);
  return 0;
}

static bool all_of(const char *s, bool (*ok)(char c)) {
  for (; *s; s++)
    if (!ok(*s))
      return false;
  return true;
}

static bool tz_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(" ()+-.", c);
}

static bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

int vm_unattend_from_json(json_t *v, struct vm_unattend *u, char *err, size_t errlen) {
  static const char *const keys[] = {"user",     "password",      "password_set", "locale",
                                     "timezone", "computer_name", "product_key",  NULL};
  struct vm_unattend old = *u;
  json_t *p;
  const char *key;
  json_t *val;
  if (json_is_null(v)) {
    memset(u, 0, sizeof(*u));
    return 0;
  }
  if (!json_is_object(v))
    return fail(err, errlen, "unattend: must be an object or null");
  json_object_foreach(v, key, val) {
    const char *const *k = keys;
    while (*k && strcmp(*k, key) != 0)
      k++;
    if (!*k)
      return fail(err, errlen, "unattend.%.60s: unknown field", key);
  }
  memset(u, 0, sizeof(*u));
  /* Windows' rules for a local account name: at most 20 characters, none of " / \ [ ] : ; | = , +
   * * ? < > @, not only dots and spaces. */
  if (!(p = json_object_get(v, "user")))
    return fail(err, errlen, "unattend.user: required");
  if (text(p, "unattend.user", u->user, sizeof(u->user), err, errlen) < 0)
    return -1;
  size_t chars = 0;
  bool only_dots = true;
  for (const unsigned char *c = (const unsigned char *)u->user; *c; c++) {
    if ((*c & 0xc0) != 0x80)
      chars++;
    if (strchr("\"/\\[]:;|=,+*?<>@", *c))
      return fail(err, errlen, "unattend.user: must not contain \" / \\ [ ] : ; | = , + * ? < > @");
    if (*c != '.' && *c != ' ')
      only_dots = false;
  }
  if (!chars || chars > VM_UNATTEND_USER_MAX || only_dots)
    return fail(err, errlen, "unattend.user: 1-%d characters, not only dots and spaces",
                VM_UNATTEND_USER_MAX);
  if ((p = json_object_get(v, "password"))) {
    if (text(p, "unattend.password", u->password, sizeof(u->password), err, errlen) < 0)
      return -1;
  } else if (old.set) {
    memcpy(u->password, old.password, sizeof(u->password));
  }
  if (!u->password[0])
    return fail(err, errlen, "unattend.password: required (1-%zu bytes)", sizeof(u->password) - 1);
  if ((p = json_object_get(v, "password_set")) && !json_is_boolean(p))
    return fail(err, errlen, "unattend.password_set: must be true or false (it is ignored)");
  snprintf(u->locale, sizeof(u->locale), "en-US");
  if ((p = json_object_get(v, "locale"))) { /* a language tag as Windows names them: ll-CC */
    char l[16];
    if (text(p, "unattend.locale", l, sizeof(l), err, errlen) < 0)
      return -1;
    size_t n = strlen(l);
    bool ok = (n == 5 || n == 6) && l[n - 3] == '-';
    for (size_t i = 0; ok && i < n; i++)
      ok = i == n - 3 || (i < n - 3 ? (l[i] >= 'a' && l[i] <= 'z') : (l[i] >= 'A' && l[i] <= 'Z'));
    if (!ok)
      return fail(err, errlen, "unattend.locale: a language tag such as 'en-US' or 'zh-CN'");
    memcpy(u->locale, l, n + 1);
  }
  snprintf(u->timezone, sizeof(u->timezone), "UTC");
  if ((p = json_object_get(v, "timezone"))) { /* Windows ids: letters, digits, spaces, ( ) + - . */
    if (text(p, "unattend.timezone", u->timezone, sizeof(u->timezone), err, errlen) < 0)
      return -1;
    if (!u->timezone[0] || !all_of(u->timezone, tz_char))
      return fail(err, errlen,
                  "unattend.timezone: a Windows time zone id such as 'UTC' or 'China Standard Time'");
  }
  if ((p = json_object_get(v, "computer_name")) && !(json_is_string(p) && json_string_length(p) == 0)) {
    char *cn = u->computer_name;
    if (text(p, "unattend.computer_name", cn, sizeof(u->computer_name), err, errlen) < 0)
      return -1;
    if (!all_of(cn, host_char) || strspn(cn, "0123456789") == strlen(cn) || cn[0] == '-')
      return fail(err, errlen, "unattend.computer_name: 1-15 letters, digits and '-', not only digits");
  }
  if ((p = json_object_get(v, "product_key")) && !(json_is_string(p) && json_string_length(p) == 0)) {
    char *k = u->product_key;
    if (text(p, "unattend.product_key", k, sizeof(u->product_key), err, errlen) < 0)
      return -1;
    bool ok = strlen(k) == 29;
    for (size_t i = 0; ok && i < 29; i++)
      ok = i % 6 == 5 ? k[i] == '-' : ((k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= '0' && k[i] <= '9'));
    if (!ok)
      return fail(
          err, errlen,
          "unattend.product_key: five groups of five letters or digits: XXXXX-XXXXX-XXXXX-XXXXX-XXXXX");
  }
  u->set = true;
  return 0;
}

void vm_unattend_rdp(struct vm_config *c) {
  if (!c->unattend.set)
    return;
  memset(&c->rdp, 0, sizeof(c->rdp));
  c->rdp.set = true;
  c->rdp.port = 3389;
  snprintf(c->rdp.security, sizeof(c->rdp.security), "any");
  snprintf(c->rdp.username, sizeof(c->rdp.username), "%s", c->unattend.user);
  snprintf(c->rdp.password, sizeof(c->rdp.password), "%s", c->unattend.password);
}

/* ---- the answer file ---- */

struct sb {
  char *s;
  size_t len, cap;
};

static void put(struct sb *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->s = xrealloc(b->s, b->cap);
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = 0;
}

static void puts_(struct sb *b, const char *s) {
  put(b, s, strlen(s));
}

/* S as XML character data or an attribute value. */
static void esc(struct sb *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&':
      puts_(b, "&amp;");
      break;
    case '<':
      puts_(b, "&lt;");
      break;
    case '>':
      puts_(b, "&gt;");
      break;
    case '"':
      puts_(b, "&quot;");
      break;
    case '\'':
      puts_(b, "&apos;");
      break;
    default:
      put(b, s, 1);
    }
  }
}

/* <NAME>VALUE</NAME> at DEPTH. */
static void el(struct sb *b, int depth, const char *name, const char *value) {
  for (int i = 0; i < depth; i++)
    puts_(b, "  ");
  puts_(b, "<");
  puts_(b, name);
  puts_(b, ">");
  esc(b, value);
  puts_(b, "</");
  puts_(b, name);
  puts_(b, ">\n");
}

/* A line of markup at DEPTH (no escaping: our own text). */
static void line(struct sb *b, int depth, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void line(struct sb *b, int depth, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  for (int i = 0; i < depth; i++)
    puts_(b, "  ");
  puts_(b, buf);
  puts_(b, "\n");
}

static void component(struct sb *b, const char *name) {
  line(b, 2,
       "<component name=\"%s\" processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\" "
       "language=\"neutral\" versionScope=\"nonSxS\">",
       name);
}

static void locales(struct sb *b, const char *locale) {
  el(b, 3, "InputLocale", locale);
  el(b, 3, "SystemLocale", locale);
  el(b, 3, "UILanguage", locale);
  el(b, 3, "UserLocale", locale);
}

/* One partition to make: ORDER, TYPE, SIZE in MB (0: the rest of the disk). */
static void create_partition(struct sb *b, int order, const char *type, int size) {
  line(b, 7, "<CreatePartition wcm:action=\"add\">");
  line(b, 8, "<Order>%d</Order>", order);
  line(b, 8, "<Type>%s</Type>", type);
  if (size)
    line(b, 8, "<Size>%d</Size>", size);
  else
    line(b, 8, "<Extend>true</Extend>");
  line(b, 7, "</CreatePartition>");
}

static void modify_partition(struct sb *b, int order, int id, const char *format, const char *label,
                             const char *letter, bool active) {
  line(b, 7, "<ModifyPartition wcm:action=\"add\">");
  line(b, 8, "<Order>%d</Order>", order);
  line(b, 8, "<PartitionID>%d</PartitionID>", id);
  if (format)
    line(b, 8, "<Format>%s</Format>", format);
  if (label)
    line(b, 8, "<Label>%s</Label>", label);
  if (letter)
    line(b, 8, "<Letter>%s</Letter>", letter);
  if (active)
    line(b, 8, "<Active>true</Active>");
  line(b, 7, "</ModifyPartition>");
}

static void disk_configuration(struct sb *b, bool uefi) {
  line(b, 3, "<DiskConfiguration>");
  line(b, 4, "<Disk wcm:action=\"add\">");
  line(b, 5, "<DiskID>0</DiskID>");
  line(b, 5, "<WillWipeDisk>true</WillWipeDisk>");
  line(b, 5, "<CreatePartitions>");
  if (uefi) { /* GPT: EFI system, MSR, Windows */
    create_partition(b, 1, "EFI", 260);
    create_partition(b, 2, "MSR", 16);
    create_partition(b, 3, "Primary", 0);
  } else { /* MBR: one active partition */
    create_partition(b, 1, "Primary", 0);
  }
  line(b, 5, "</CreatePartitions>");
  line(b, 5, "<ModifyPartitions>");
  if (uefi) {
    modify_partition(b, 1, 1, "FAT32", "System", NULL, false);
    modify_partition(b, 2, 2, NULL, NULL, NULL, false);
    modify_partition(b, 3, 3, "NTFS", "Windows", "C", false);
  } else {
    modify_partition(b, 1, 1, "NTFS", "Windows", "C", true);
  }
  line(b, 5, "</ModifyPartitions>");
  line(b, 4, "</Disk>");
  line(b, 3, "</DiskConfiguration>");
}

/* Windows 11's hardware checks, skipped where the VM lacks what they look for (Setup's LabConfig
 * values, read before the edition's requirements are checked). */
static void bypass_checks(struct sb *b, const struct vm_config *c) {
  const char *checks[3];
  int n = 0;
  if (!c->tpm)
    checks[n++] = "BypassTPMCheck";
  if (!c->secure_boot)
    checks[n++] = "BypassSecureBootCheck";
  if (c->memory_mib < 4096)
    checks[n++] = "BypassRAMCheck";
  if (!n)
    return;
  line(b, 3, "<RunSynchronous>");
  for (int i = 0; i < n; i++) {
    line(b, 4, "<RunSynchronousCommand wcm:action=\"add\">");
    line(b, 5, "<Order>%d</Order>", i + 1);
    line(b, 5, "<Path>reg add HKLM\\SYSTEM\\Setup\\LabConfig /v %s /t REG_DWORD /d 1 /f</Path>", checks[i]);
    line(b, 4, "</RunSynchronousCommand>");
  }
  line(b, 3, "</RunSynchronous>");
}

/* With a drivers CD (drivers_iso): virtio-win's folders for 64-bit Windows 11 and 10 (its layout:
 * DRIVER\w11\amd64), whose drivers Setup loads in WinPE (a virtio disk becomes visible) and copies
 * into the installed Windows. A CD's letter in WinPE is not fixed (the Windows CD, the answer CD
 * and this one; a disk's old volumes go first), so each folder is named on D: to G:. */
static void driver_paths(struct sb *b) {
  static const char *const drivers[] = {"viostor", "vioscsi", "NetKVM", "vioserial", "Balloon"};
  static const char *const windows[] = {"w11", "w10"};
  int key = 1;
  component(b, "Microsoft-Windows-PnpCustomizationsWinPE");
  line(b, 3, "<DriverPaths>");
  for (const char *d = "DEFG"; *d; d++)
    for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++)
      for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
        line(b, 4, "<PathAndCredentials wcm:action=\"add\" wcm:keyValue=\"%d\">", key++);
        line(b, 5, "<Path>%c:\\%s\\%s\\amd64</Path>", *d, drivers[i], windows[w]);
        line(b, 4, "</PathAndCredentials>");
      }
  line(b, 3, "</DriverPaths>");
  line(b, 2, "</component>");
}

static void password(struct sb *b, int depth, const char *pw) {
  line(b, depth, "<Password>");
  el(b, depth + 1, "Value", pw);
  line(b, depth + 1, "<PlainText>true</PlainText>");
  line(b, depth, "</Password>");
}

char *vm_unattend_xml(const struct vm_config *c) {
  const struct vm_unattend *u = &c->unattend;
  struct sb b = {0};
  bool uefi = c->uefi;
  line(&b, 0, "<?xml version=\"1.0\" encoding=\"utf-8\"?>");
  line(&b, 0, "<!-- qemu-hmos: the answer file of VM %s (made at each start from its settings) -->", c->id);
  line(&b, 0,
       "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\" "
       "xmlns:wcm=\"http://schemas.microsoft.com/WMIConfig/2002/State\">");

  line(&b, 1, "<settings pass=\"windowsPE\">");
  component(&b, "Microsoft-Windows-International-Core-WinPE");
  line(&b, 3, "<SetupUILanguage>");
  el(&b, 4, "UILanguage", u->locale);
  line(&b, 3, "</SetupUILanguage>");
  locales(&b, u->locale);
  line(&b, 2, "</component>");
  component(&b, "Microsoft-Windows-Setup");
  disk_configuration(&b, uefi);
  line(&b, 3, "<ImageInstall>");
  line(&b, 4, "<OSImage>");
  line(&b, 5, "<InstallTo>");
  line(&b, 6, "<DiskID>0</DiskID>");
  line(&b, 6, "<PartitionID>%d</PartitionID>", uefi ? 3 : 1);
  line(&b, 5, "</InstallTo>");
  line(&b, 4, "</OSImage>");
  line(&b, 3, "</ImageInstall>");
  line(&b, 3, "<UserData>");
  line(&b, 4, "<AcceptEula>true</AcceptEula>");
  line(&b, 4, "<ProductKey>");
  el(&b, 5, "Key", u->product_key[0] ? u->product_key : VM_UNATTEND_DEFAULT_KEY);
  line(&b, 5, "<WillShowUI>OnError</WillShowUI>");
  line(&b, 4, "</ProductKey>");
  line(&b, 3, "</UserData>");
  bypass_checks(&b, c);
  line(&b, 2, "</component>");
  if (c->drivers_iso[0])
    driver_paths(&b);
  line(&b, 1, "</settings>");

  line(&b, 1, "<settings pass=\"specialize\">");
  component(&b, "Microsoft-Windows-Shell-Setup");
  el(&b, 3, "ComputerName", u->computer_name[0] ? u->computer_name : "*");
  el(&b, 3, "TimeZone", u->timezone);
  line(&b, 2, "</component>");
  component(&b, "Microsoft-Windows-TerminalServices-LocalSessionManager");
  line(&b, 3, "<fDenyTSConnections>false</fDenyTSConnections>");
  line(&b, 2, "</component>");
  component(&b, "Networking-MPSSVC-Svc");
  line(&b, 3, "<FirewallGroups>");
  line(&b, 4, "<FirewallGroup wcm:action=\"add\" wcm:keyValue=\"RemoteDesktop\">");
  line(&b, 5, "<Active>true</Active>");
  line(&b, 5, "<Group>@FirewallAPI.dll,-28752</Group>");
  line(&b, 5, "<Profile>all</Profile>");
  line(&b, 4, "</FirewallGroup>");
  line(&b, 3, "</FirewallGroups>");
  line(&b, 2, "</component>");
  line(&b, 1, "</settings>");

  line(&b, 1, "<settings pass=\"oobeSystem\">");
  component(&b, "Microsoft-Windows-International-Core");
  locales(&b, u->locale);
  line(&b, 2, "</component>");
  component(&b, "Microsoft-Windows-Shell-Setup");
  line(&b, 3, "<OOBE>");
  line(&b, 4, "<HideEULAPage>true</HideEULAPage>");
  line(&b, 4, "<HideOEMRegistrationScreen>true</HideOEMRegistrationScreen>");
  line(&b, 4, "<HideOnlineAccountScreens>true</HideOnlineAccountScreens>");
  line(&b, 4, "<HideWirelessSetupInOOBE>true</HideWirelessSetupInOOBE>");
  line(&b, 4, "<ProtectYourPC>3</ProtectYourPC>");
  line(&b, 3, "</OOBE>");
  line(&b, 3, "<UserAccounts>");
  line(&b, 4, "<LocalAccounts>");
  line(&b, 5, "<LocalAccount wcm:action=\"add\">");
  el(&b, 6, "Name", u->user);
  el(&b, 6, "DisplayName", u->user);
  line(&b, 6, "<Group>Administrators</Group>");
  password(&b, 6, u->password);
  line(&b, 5, "</LocalAccount>");
  line(&b, 4, "</LocalAccounts>");
  line(&b, 3, "</UserAccounts>");
  line(&b, 3, "<AutoLogon>");
  line(&b, 4, "<Enabled>true</Enabled>");
  el(&b, 4, "Username", u->user);
  password(&b, 4, u->password);
  line(&b, 4, "<LogonCount>1</LogonCount>");
  line(&b, 3, "</AutoLogon>");
  line(&b, 3, "<FirstLogonCommands>");
  line(&b, 4, "<SynchronousCommand wcm:action=\"add\">");
  line(&b, 5, "<Order>1</Order>");
  line(&b, 5,
       "<CommandLine>cmd /c for %%d in (D E F G H I J K L M) do @if exist %%d:\\qhm-setup.ps1 powershell "
       "-NoProfile -ExecutionPolicy Bypass -File %%d:\\qhm-setup.ps1</CommandLine>");
  line(&b, 5, "<Description>qemu-hmos: Remote Desktop, RemoteApp, guest agent</Description>");
  line(&b, 4, "</SynchronousCommand>");
  line(&b, 3, "</FirstLogonCommands>");
  line(&b, 2, "</component>");
  line(&b, 1, "</settings>");
  line(&b, 0, "</unattend>");
  return b.s;
}
