"""Creating and changing a database's structure, as DB Browser for SQLite does with its dialogs.

    model.py   what a table and an index are made of (columns, keys, options) and the SQL that creates them
    parse.py   a table's definition read back from its CREATE TABLE text (checked against pragma_table_xinfo)
    plan.py    each change as a `Plan`: the exact statements, its inverse for undo (or why there is none);
               changes SQLite's ALTER TABLE cannot make are the documented 12-step table rebuild
    apply.py   a plan run in one transaction on the session's write connection, with its checks
"""
