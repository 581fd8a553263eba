"""What a compose file may ask for (the allow-list, the policy, the names) and what a release of
it consists of (pure)."""
