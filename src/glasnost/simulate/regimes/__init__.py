"""The three regimes, each a class with ``step(year) -> {measure: value}`` over array state."""
