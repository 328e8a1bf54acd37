import ArgumentParser

/// `pocare-control-bench`: the Control Site's benchmarks. Without a subcommand it runs `ingest`,
/// so `pocare-control-bench --devices 20 --samples 86400` keeps its meaning.
@main
struct ControlBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pocare-control-bench",
        abstract: "Control Site benchmarks: ingest into today's schema, and the candidates for a compact record store.",
        subcommands: [ControlIngestBenchmark.self, StoreDesignBenchmark.self, PageBenchmark.self, ArchiveBenchmark.self],
        defaultSubcommand: ControlIngestBenchmark.self)
}
