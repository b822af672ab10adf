"""The desktop app: Qt only. Every change goes through gp_optout_desktop.services."""
