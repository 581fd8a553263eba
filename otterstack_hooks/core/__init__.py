"""The words every layer shares (pure): the error a user can act on, the enums, the settings,
name validation and the ports the use cases act through."""
