"""Inputs: anything a user can predict on, turned into a lazy, counted stream of images."""
