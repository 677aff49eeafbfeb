"""Reading /proc/self/mountinfo (proc(5)): its fields escape characters as \\ooo."""


def unescape(field):
    """Undo mountinfo's octal escapes of space, tab, newline and backslash."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)
