"""Comments, replies and comment likes: stored in repository, served by service and routes,
moderated from the command line through moderation."""
