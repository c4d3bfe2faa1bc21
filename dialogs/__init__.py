"""The borrower's conversation as a pure state machine; never imports `telegram`."""
