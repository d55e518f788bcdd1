# SPDX-License-Identifier: GPL-2.0-or-later
# qemu-hmos: make a fresh Windows ready for its RDP console. Run once by the answer file at the
# first logon (from the answer CD), or by hand as an administrator:
#   powershell -NoProfile -ExecutionPolicy Bypass -File D:\qhm-setup.ps1
# It turns on Remote Desktop and its firewall rules, lets RemoteApp run any program (the VM's app
# shortcuts), installs the QEMU guest agent when a virtio-win CD is in a drive, and writes what it
# did to C:\Windows\Temp\qhm-setup.log. Safe to run again.
$ErrorActionPreference = 'Continue'
$log = Join-Path $env:SystemRoot 'Temp\qhm-setup.log'
function Note([string]$text) {
  $line = '{0:u} {1}' -f (Get-Date), $text
  Add-Content -Path $log -Value $line
  Write-Output $line
}

Note 'qemu-hmos setup begins'

# Remote Desktop on, with Network Level Authentication (the console signs in with the account).
$ts = 'HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server'
Set-ItemProperty -Path $ts -Name 'fDenyTSConnections' -Value 0 -Type DWord
Set-ItemProperty -Path "$ts\WinStations\RDP-Tcp" -Name 'UserAuthentication' -Value 1 -Type DWord
Note 'Remote Desktop: on'

# Its firewall rules, by their group's resource name (the display name is translated).
try {
  Enable-NetFirewallRule -Group '@FirewallAPI.dll,-28752' -ErrorAction Stop
  Note 'firewall: Remote Desktop rules enabled'
} catch {
  & netsh advfirewall firewall set rule group="remote desktop" new enable=Yes | Out-Null
  Note ('firewall: netsh fallback ({0})' -f $_.Exception.Message)
}

# RemoteApp: any program may be started as a remote application (the app shortcuts).
$allow = 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Terminal Server\TSAppAllowList'
if (-not (Test-Path $allow)) { New-Item -Path $allow -Force | Out-Null }
Set-ItemProperty -Path $allow -Name 'fDisabledAllowList' -Value 1 -Type DWord
$policy = 'HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services'
if (-not (Test-Path $policy)) { New-Item -Path $policy -Force | Out-Null }
Set-ItemProperty -Path $policy -Name 'fAllowUnlistedRemotePrograms' -Value 1 -Type DWord
Note 'RemoteApp: unlisted programs allowed'

# The QEMU guest agent from a virtio-win CD, when one is in a drive.
$msi = $null
foreach ($d in Get-PSDrive -PSProvider FileSystem) {
  $p = Join-Path $d.Root 'guest-agent\qemu-ga-x86_64.msi'
  if (Test-Path $p) { $msi = $p; break }
}
if ($msi) {
  $r = Start-Process -FilePath 'msiexec.exe' -ArgumentList @('/i', "`"$msi`"", '/qn', '/norestart') -Wait -PassThru
  Note ('guest agent: {0} exit {1}' -f $msi, $r.ExitCode)
} else {
  Note 'guest agent: no virtio-win CD in a drive (insert one and run this again to install it)'
}

Note 'qemu-hmos setup done'
