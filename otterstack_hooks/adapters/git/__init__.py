"""git: the Repo port (commits, worktrees) and pre-receive's bounded look at a pushed commit."""
