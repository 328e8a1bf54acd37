import POCareConfig
import POCareCore
import Testing

@Suite("A spec's comparability section: the progress variable a phase is aligned by")
struct SpecComparabilityTests {
    static func aligned(_ entry: String) -> String {
        minimalSpec + "\ncomparability:\n  expansion: \(entry)\n"
    }

    @Test("a progress variable is read, is part of the fingerprint, and survives the canonical form; a spec without one keeps its fingerprint")
    func readAndFingerprinted() throws {
        let spec = try #require(SpecLoader.parse(Self.aligned("{ align_by: viable_cell_density, bucket: 0.5, from: 0.25 }"), file: "spec.yaml",
                                                 profiles: profileCatalogue).spec)
        #expect(spec.alignment(for: "expansion") == SpecAlignment(phase: "expansion", parameterId: "viable_cell_density", bucket: 0.5, from: 0.25))
        #expect(spec.alignment(for: "harvest") == nil)
        #expect(spec.canonicalForm.contains(#""comparability":{"expansion":{"align_by":"viable_cell_density","bucket":0.5,"from":0.25}}"#))
        #expect(spec.fingerprint != fingerprint(minimalSpec))
        #expect(fingerprint(Self.aligned("{ align_by: viable_cell_density, bucket: 1 }")) != fingerprint(Self.aligned("{ align_by: viable_cell_density, bucket: 2 }")))
        #expect(!(SpecLoader.parse(minimalSpec, file: "spec.yaml", profiles: profileCatalogue).spec?.canonicalForm.contains("comparability") ?? true))
        let back = try #require(SpecCanonicalForm.parse(spec.canonicalForm, fingerprint: spec.fingerprint))
        #expect(back.alignments == spec.alignments)
        // The default origin is written out, so leaving it out and writing 0 are one spec.
        #expect(fingerprint(Self.aligned("{ align_by: viable_cell_density, bucket: 0.5 }"))
                == fingerprint(Self.aligned("{ align_by: viable_cell_density, bucket: 0.5, from: 0 }")))
    }

    @Test("an unknown parameter, a flag, a phase the spec lacks, a bucket of 0 or no bucket are errors naming the field")
    func invalid() {
        func fields(_ entry: String) -> [String] { specDiagnostics(Self.aligned(entry)).map(\.field) }
        #expect(fields("{ align_by: cell_count, bucket: 1 }") == ["comparability.expansion.align_by"])
        #expect(specDiagnostics(Self.aligned("{ align_by: cell_count, bucket: 1 }")).first?.message.contains("no profile named by the spec has a parameter 'cell_count'") == true)
        #expect(fields("{ align_by: running, bucket: 1 }").allSatisfy { $0 == "comparability.expansion.align_by" })
        #expect(!fields("{ align_by: running, bucket: 1 }").isEmpty)
        #expect(fields("{ align_by: viable_cell_density, bucket: 0 }") == ["comparability.expansion.bucket"])
        #expect(fields("{ align_by: viable_cell_density, bucket: -1 }") == ["comparability.expansion.bucket"])
        #expect(fields("{ align_by: viable_cell_density, bucket: .nan }") == ["comparability.expansion.bucket"])
        #expect(fields("{ align_by: viable_cell_density }") == ["comparability.expansion.bucket"])
        #expect(fields("{ align_by: viable_cell_density, bucket: 1, form: 2 }") == ["comparability.expansion.form"])
        let harvest = specDiagnostics(minimalSpec + "\ncomparability:\n  harvest: { align_by: viable_cell_density, bucket: 1 }\n")
        #expect(harvest.map(\.field) == ["comparability.harvest"] && harvest.first?.message.contains("not a phase of this spec") == true)
    }
}
