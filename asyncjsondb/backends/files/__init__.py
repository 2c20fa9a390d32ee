"""The JSON-file backend: a folder with one ``<name>.json`` (and its journal) per collection."""
