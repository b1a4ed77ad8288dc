"""pytest set-up for the modeling tests: detailed assertion messages from the shared layer harness."""
import pytest

# The harness asserts with plain `assert`; pytest explains those only in modules it rewrites.
pytest.register_assert_rewrite("tests.harness.layers")
