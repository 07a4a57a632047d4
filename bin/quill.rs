fn main() {
    quill::cli::main()
}
