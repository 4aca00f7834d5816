"""Real-time rules: conditions on arriving events, windows, inactivity and geofences, and their actions."""
