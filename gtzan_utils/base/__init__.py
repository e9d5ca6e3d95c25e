"""The base every chapter stands on: errors, constants, the run folder's layout, atomic files, parsing of
parameters, progress, display primitives. Imports nothing of the package above it.
"""
