//! Alibaba Cloud API emulator (filled by issue 3).
