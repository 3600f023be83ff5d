pub mod config_files;
pub mod local;
