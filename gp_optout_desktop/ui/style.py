"""The one style sheet: a focus ring nobody can miss (the NHS design system's yellow with a
dark edge), because a front-desk user moved around by Enter and Tab must always see where the
next key goes. Buttons keep one look in every state, so the focused one is the odd one out."""

FOCUS_COLOUR = "#ffeb3b"
FOCUS_EDGE = "#212b32"

STYLE_SHEET = f"""
QPushButton {{ padding: 4px 14px; border: 1px solid #7a7a7a; border-radius: 3px; background: #f2f2f2; }}
QPushButton:hover {{ background: #e6e6e6; }}
QPushButton:pressed {{ background: #d6d6d6; }}
QPushButton:disabled {{ color: #8a8a8a; border-color: #c4c4c4; background: #f7f7f7; }}
QPushButton:focus {{ background: {FOCUS_COLOUR}; border: 2px solid {FOCUS_EDGE}; }}
QLineEdit:focus, QComboBox:focus, QPlainTextEdit:focus, QSpinBox:focus, QDateEdit:focus {{
    border: 2px solid {FOCUS_EDGE}; background: #fffbe0; }}
QCheckBox:focus, QRadioButton:focus, QGroupBox:focus {{ background: {FOCUS_COLOUR}; }}
QTableView:focus, QListWidget:focus, QListView:focus {{ border: 2px solid {FOCUS_EDGE}; }}
"""
