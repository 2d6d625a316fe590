"""Generated from proto/georisk/v1 by scripts/gen-proto: do not edit."""
