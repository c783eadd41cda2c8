"""The lowest layer: errors, deadlines, commands, signals, paths and other facts every layer shares."""
