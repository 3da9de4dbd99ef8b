"""cancelkit: signed, validated, typed order cancels for Polymarket US and Limitless."""
