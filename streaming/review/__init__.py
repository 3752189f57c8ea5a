"""The review page: people look at duplicate pairs side by side and decide (docs/review.md)."""
