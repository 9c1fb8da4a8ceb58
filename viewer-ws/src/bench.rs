//! WebSocket load benchmark (filled below).
