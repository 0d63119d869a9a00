"""All comment SQL, on a connection it is given.

reads: a video's comments with their replies and likes. writes: posting, and the locks every
write takes first. like_writes: a client's like of a comment. removal: moderation.
"""
