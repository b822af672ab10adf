; NSIS installer for practice workstations (Windows). Build after PyInstaller:
;   makensis /DVERSION=0.1.0 installers\windows\gp-optout-desktop.nsi
; Installs per machine into Program Files; the register itself stays in each user's
; %LOCALAPPDATA% (never on a network share: the program refuses one).
!ifndef VERSION
  !define VERSION "0.1.0"
!endif
Name "gp-optout-desktop ${VERSION}"
OutFile "gp-optout-desktop-${VERSION}-setup.exe"
InstallDir "$PROGRAMFILES64\gp-optout-desktop"
RequestExecutionLevel admin
SetCompressor /SOLID lzma

Page directory
Page instfiles
UninstPage uninstConfirm
UninstPage instfiles

Section "Install"
  SetOutPath "$INSTDIR"
  File /r "..\..\dist\gp-optout-desktop\*.*"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateDirectory "$SMPROGRAMS\gp-optout-desktop"
  CreateShortcut "$SMPROGRAMS\gp-optout-desktop\GP opt-out register.lnk" "$INSTDIR\gp-optout-desktop.exe"
  WriteRegStr HKLM "Software\Microsoft\Windows\CurrentVersion\Uninstall\gp-optout-desktop" "DisplayName" "gp-optout-desktop"
  WriteRegStr HKLM "Software\Microsoft\Windows\CurrentVersion\Uninstall\gp-optout-desktop" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "Software\Microsoft\Windows\CurrentVersion\Uninstall\gp-optout-desktop" "UninstallString" "$INSTDIR\uninstall.exe"
SectionEnd

Section "Uninstall"
  ; Removes the program only. Registers and backups in users' data folders are left alone:
  ; deleting a register of patients' objections must be a deliberate act.
  RMDir /r "$INSTDIR"
  RMDir /r "$SMPROGRAMS\gp-optout-desktop"
  DeleteRegKey HKLM "Software\Microsoft\Windows\CurrentVersion\Uninstall\gp-optout-desktop"
SectionEnd
