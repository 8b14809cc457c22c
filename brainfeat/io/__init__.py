"""Readers and writers of the file formats the dataset is published in."""
