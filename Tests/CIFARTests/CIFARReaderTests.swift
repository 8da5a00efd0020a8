import ConvEngine
import Foundation
import Testing

@testable import CIFAR

@Suite struct CIFARReaderTests {
    static let train = FixtureWriter.images(count: 35, classes: 10, seed: 1)
    static let test = FixtureWriter.images(count: 6, classes: 10, seed: 2)

    func expectSame(_ d: CIFARDataset, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(d.train == Self.train, "\(label): training images differ", sourceLocation: sourceLocation)
        #expect(d.test == Self.test, "\(label): test images differ", sourceLocation: sourceLocation)
        #expect(d.classNames == FixtureWriter.names10, "\(label): class names", sourceLocation: sourceLocation)
        #expect(d.variant == .cifar10, sourceLocation: sourceLocation)
    }

    /// Binary folder, its parent, every pickle form, and the archives all decode to identical data.
    @Test func everyFormDecodesToTheSameImages() throws {
        let w = try FixtureWriter()
        defer { w.remove() }
        let binary = try w.writeBinary10(train: Self.train, test: Self.test)
        expectSame(try CIFARDataset.load(from: binary), "binary folder")
        expectSame(try CIFARDataset.load(from: w.root), "parent of the binary folder")
        for form in FixtureWriter.PickleForm.allCases {
            let folder = try w.writePython10(
                train: Self.train, test: Self.test, form: form, folder: "py-\(form)/cifar-10-batches-py")
            expectSame(try CIFARDataset.load(from: folder), "\(form) pickles")
            expectSame(try CIFARDataset.load(from: folder.deletingLastPathComponent()), "parent of \(form) pickles")
        }
        _ = try w.writePython10(train: Self.train, test: Self.test, form: .python2)
        let binaryArchive = try w.writeArchive(folder: "cifar-10-batches-bin", name: "cifar-10-binary.tar.gz")
        let pythonArchive = try w.writeArchive(folder: "cifar-10-batches-py", name: "cifar-10-python.tar.gz")
        expectSame(try CIFARDataset.load(from: binaryArchive), "binary archive")
        expectSame(try CIFARDataset.load(from: pythonArchive), "python archive")
        // An archive under another name is recognised by what it holds.
        let renamed = w.root.appendingPathComponent("my-copy.tar.gz")
        try FileManager.default.copyItem(at: pythonArchive, to: renamed)
        expectSame(try CIFARDataset.load(from: renamed), "renamed archive")
        // A folder with only archives.
        let archivesOnly = w.root.appendingPathComponent("archives")
        try FileManager.default.createDirectory(at: archivesOnly, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: binaryArchive, to: archivesOnly.appendingPathComponent("cifar-10-binary.tar.gz"))
        expectSame(try CIFARDataset.load(from: archivesOnly), "folder of archives")
    }

    @Test func cifar100ReadsInBothFormsWithFineAndCoarseLabels() throws {
        let w = try FixtureWriter()
        defer { w.remove() }
        let train = FixtureWriter.images(count: 12, classes: 100, seed: 3, coarse: true)
        let test = FixtureWriter.images(count: 5, classes: 100, seed: 4, coarse: true)
        let binary = try CIFARDataset.load(from: w.writeBinary100(train: train, test: test))
        for form in FixtureWriter.PickleForm.allCases {
            let w2 = try FixtureWriter()
            defer { w2.remove() }
            let python = try CIFARDataset.load(from: w2.writePython100(train: train, test: test, form: form))
            #expect(python.train == binary.train && python.test == binary.test, "\(form)")
            #expect(python.classNames == binary.classNames && python.coarseClassNames == binary.coarseClassNames)
        }
        #expect(binary.variant == .cifar100 && binary.train == train && binary.classNames.count == 100)
        let coarse = try CIFARDataset.load(from: w.root.appendingPathComponent("cifar-100-binary"), useCoarseLabels: true)
        #expect(coarse.train.labels == train.coarseLabels && coarse.classNames.count == 20)
        let archive = try w.writeArchive(folder: "cifar-100-binary", name: "cifar-100-binary.tar.gz")
        #expect(try CIFARDataset.load(from: archive).train == train)
    }

    /// Pickles written by real Python 3 with numpy 2 (Tests/Fixtures/make_pickles.py).
    @Test(arguments: [2, 4, 5])
    func readsPicklesWrittenByRealPython(_ protocolVersion: Int) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/python3_protocol\(protocolVersion).pickle")
        let batch = try PythonBatches.batch(
            ([UInt8](try Data(contentsOf: url)), url.path), fine: "labels", coarse: nil, classes: 10)
        #expect(batch.labels == [3, 1, 4, 1])
        let expected: [UInt8] = (0..<(4 * 3072)).map { (i: Int) -> UInt8 in UInt8(i * 7 % 256) }
        #expect(batch.pixels == expected)
    }

    @Test func aMissingDatasetSaysWhereItLookedAndWhatToDo() throws {
        let w = try FixtureWriter()
        defer { w.remove() }
        do {
            _ = try CIFARDataset.load(from: w.root)
            Issue.record("an empty folder was accepted")
        } catch let error as EngineError {
            let text = "\(error)"
            #expect(text.contains(w.root.appendingPathComponent("cifar-10-batches-bin").path))
            #expect(text.contains("cifar-10-python.tar.gz"))
            #expect(text.contains("mobilenet download") && text.contains("--data synthetic"))
        }
        #expect(throws: EngineError.self) { try CIFARDataset.load(from: w.root.appendingPathComponent("nowhere")) }
    }
}
