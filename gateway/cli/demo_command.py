"""`arbridge demo` (the cycle itself is in gateway.demo)."""

from gateway.demo import demo_command

COMMANDS = [demo_command]
