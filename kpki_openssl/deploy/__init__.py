"""Deploy: which file goes to which host."""
