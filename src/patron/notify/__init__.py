"""Messages to customers: channels, the delivery queue, consent at send time."""
