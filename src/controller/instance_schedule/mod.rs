//! InstanceSchedule: pause and resume reserved instances on time windows.

pub mod windows;
