"""Prints a table of its rows with the tabulate package (installed from requirements)."""

from tabulate import tabulate


def main(rows):
    print(tabulate(rows, headers=["what", "count"], tablefmt="github"))
    return len(rows)
