"""The encrypted register: the only package that speaks SQL or touches the register's files."""
