"""Re-planning: events that change the world, a rolling-horizon re-plan, publishing."""
