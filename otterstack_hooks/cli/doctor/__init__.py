"""`otterstack doctor`: checks everything a deploy needs and says how to fix it."""
