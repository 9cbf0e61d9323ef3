//! Sources of the weir command.
