"""Command line: ``tfflink run | validate | submit``."""
