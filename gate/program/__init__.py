"""The gate's stage: the program under mocks."""
