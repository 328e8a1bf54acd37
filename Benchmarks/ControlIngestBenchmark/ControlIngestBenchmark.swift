@main
struct ControlIngestBenchmark {
    static func main() {}
}
