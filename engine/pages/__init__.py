"""The generated cabinet: role-scoped pages, menus and themes, built per version from the page specs."""
