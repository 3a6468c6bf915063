"""The smallest tool: returns its arguments and where it ran. Used to test the tool path."""
import os


def main(args):
    return {"args": args, "cwd": os.getcwd(), "uid": os.getuid()}
