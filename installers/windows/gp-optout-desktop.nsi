; NSIS installer for practice workstations: Windows 10 (1903+) / 11, x64 only.
; Built by scripts/build-windows (on Debian, with makensis), which passes:
;   VERSION  the project version          BUNDLE  the PyInstaller folder (dist/gp-optout-desktop)
;   LISTS    the folder holding install.nsh / uninstall.nsh (installers/windows/nsis_lists.py)
;   OUTFILE  the setup.exe to write     ICON  the .ico (optional)
; Installs per machine into Program Files with a Start-menu shortcut for all users; the
; register itself stays in each user's %LOCALAPPDATA% (never on a network share: the program
; refuses one) and is never touched by installing or uninstalling.
; Not code-signed: see installers/README.md for signing with osslsigncode.
Unicode true
Target amd64-unicode   ; a 64-bit installer for a 64-bit bundle (also the 64-bit registry view)

!ifndef VERSION
  !error "VERSION not defined: build with scripts/build-windows"
!endif
!ifndef LISTS
  !error "LISTS not defined: build with scripts/build-windows"
!endif
!ifndef OUTFILE
  !define OUTFILE "gp-optout-desktop-${VERSION}-setup.exe"
!endif
!define APP "gp-optout-desktop"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP}"
!define SHORTCUT_DIR "$SMPROGRAMS\${APP}"
!define SHORTCUT "${SHORTCUT_DIR}\GP opt-out register.lnk"

!ifdef ICON
  Icon "${ICON}"            ; installers/icons/gp-optout-desktop.ico
  UninstallIcon "${ICON}"
!endif
Name "GP opt-out register ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\${APP}"
InstallDirRegKey HKLM "${UNINST_KEY}" "InstallLocation"
RequestExecutionLevel admin
SetCompressor /SOLID lzma
ShowInstDetails show
ShowUninstDetails show
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "GP opt-out register"
VIAddVersionKey "FileDescription" "GP opt-out register installer"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "LegalCopyright" "MIT licence"

Page directory
Page instfiles
UninstPage uninstConfirm
UninstPage instfiles

Function .onInit
  SetShellVarContext all   ; Start menu for every user of the PC, not only the installing admin
  SetRegView 64
FunctionEnd

Function un.onInit
  SetShellVarContext all
  SetRegView 64
FunctionEnd

Section "Install"
  !include "${LISTS}/install.nsh"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateDirectory "${SHORTCUT_DIR}"
  CreateShortcut "${SHORTCUT}" "$INSTDIR\gp-optout-desktop.exe"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "GP opt-out register"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "gp-optout-desktop"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\gp-optout-desktop.exe"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  ; Removes exactly the files this installer wrote (the list is compiled in), then each of
  ; its folders only if empty: never RMDir /r, because the install folder is the user's choice.
  ; Registers and backups in users' data folders are never touched: deleting a register of
  ; patients' objections must be a deliberate act.
  !include "${LISTS}/uninstall.nsh"
  Delete "${SHORTCUT}"
  RMDir "${SHORTCUT_DIR}"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINST_KEY}"
SectionEnd
