"""Deploy: which file goes to which host, and the commands that install them there."""
