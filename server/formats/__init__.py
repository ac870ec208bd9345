"""What model families write around their answers (reasoning, tool calls), and how to read it back."""
