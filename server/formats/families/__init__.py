"""One module per model family: its markers, its call syntax and its call grammar."""
