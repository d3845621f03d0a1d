"""A results table as GitHub markdown: optional bold title, left first column, numbers right."""


def escape_cell(text):
    return str(text).replace("|", "\\|")


def markdown_table(header, rows, title=None):
    """``header`` is a list of labels, ``rows`` lists of already formatted cells."""
    lines = [f"**{title}**", ""] if title else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for cells in rows:
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
