"""What each command does, behind the CLI: orchestration that returns typed results."""
