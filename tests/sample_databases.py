"""Chinook-like and Northwind-like SQLite databases, generated deterministically at any size.

The schemas follow the well-known sample databases as their SQLite ports spell them: [bracketed] names,
table-constraint primary keys, a self-referencing ReportsTo, composite keys (PlaylistTrack, "Order
Details": a name with a space), a TEXT key ('VINET'), AUTOINCREMENT, NUMERIC(10,2) prices, DATETIME text,
DEFAULTs (datetime('now') among them), CHECKs and views. The rows are made up, but every foreign key holds.
Northwind adds what `migrate` cannot translate (a GLOB check, a strftime() default, a view comparing text
with a number), so the tests see those listed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import apsw

CHINOOK = """
CREATE TABLE [Artist]([ArtistId] INTEGER NOT NULL, [Name] NVARCHAR(120), CONSTRAINT [PK_Artist] PRIMARY KEY ([ArtistId]));
CREATE TABLE [Album]([AlbumId] INTEGER NOT NULL, [Title] NVARCHAR(160) NOT NULL, [ArtistId] INTEGER NOT NULL,
    CONSTRAINT [PK_Album] PRIMARY KEY ([AlbumId]),
    FOREIGN KEY ([ArtistId]) REFERENCES [Artist] ([ArtistId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [Genre]([GenreId] INTEGER NOT NULL, [Name] NVARCHAR(120), CONSTRAINT [PK_Genre] PRIMARY KEY ([GenreId]));
CREATE TABLE [MediaType]([MediaTypeId] INTEGER NOT NULL, [Name] NVARCHAR(120),
    CONSTRAINT [PK_MediaType] PRIMARY KEY ([MediaTypeId]));
CREATE TABLE [Track]([TrackId] INTEGER NOT NULL, [Name] NVARCHAR(200) NOT NULL, [AlbumId] INTEGER,
    [MediaTypeId] INTEGER NOT NULL, [GenreId] INTEGER, [Composer] NVARCHAR(220), [Milliseconds] INTEGER NOT NULL,
    [Bytes] INTEGER, [UnitPrice] NUMERIC(10,2) NOT NULL, CONSTRAINT [PK_Track] PRIMARY KEY ([TrackId]),
    FOREIGN KEY ([AlbumId]) REFERENCES [Album] ([AlbumId]) ON DELETE NO ACTION ON UPDATE NO ACTION,
    FOREIGN KEY ([GenreId]) REFERENCES [Genre] ([GenreId]) ON DELETE NO ACTION ON UPDATE NO ACTION,
    FOREIGN KEY ([MediaTypeId]) REFERENCES [MediaType] ([MediaTypeId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [Employee]([EmployeeId] INTEGER NOT NULL, [LastName] NVARCHAR(20) NOT NULL,
    [FirstName] NVARCHAR(20) NOT NULL, [Title] NVARCHAR(30), [ReportsTo] INTEGER, [BirthDate] DATETIME,
    [HireDate] DATETIME, [City] NVARCHAR(40), [Country] NVARCHAR(40), [Email] NVARCHAR(60),
    CONSTRAINT [PK_Employee] PRIMARY KEY ([EmployeeId]),
    FOREIGN KEY ([ReportsTo]) REFERENCES [Employee] ([EmployeeId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [Customer]([CustomerId] INTEGER NOT NULL, [FirstName] NVARCHAR(40) NOT NULL,
    [LastName] NVARCHAR(20) NOT NULL, [Company] NVARCHAR(80), [City] NVARCHAR(40), [Country] NVARCHAR(40),
    [Email] NVARCHAR(60) NOT NULL, [SupportRepId] INTEGER, CONSTRAINT [PK_Customer] PRIMARY KEY ([CustomerId]),
    FOREIGN KEY ([SupportRepId]) REFERENCES [Employee] ([EmployeeId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [Invoice]([InvoiceId] INTEGER NOT NULL, [CustomerId] INTEGER NOT NULL, [InvoiceDate] DATETIME NOT NULL,
    [BillingCity] NVARCHAR(40), [BillingCountry] NVARCHAR(40), [Total] NUMERIC(10,2) NOT NULL,
    CONSTRAINT [PK_Invoice] PRIMARY KEY ([InvoiceId]),
    FOREIGN KEY ([CustomerId]) REFERENCES [Customer] ([CustomerId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [InvoiceLine]([InvoiceLineId] INTEGER NOT NULL, [InvoiceId] INTEGER NOT NULL, [TrackId] INTEGER NOT NULL,
    [UnitPrice] NUMERIC(10,2) NOT NULL, [Quantity] INTEGER NOT NULL, CONSTRAINT [PK_InvoiceLine] PRIMARY KEY ([InvoiceLineId]),
    FOREIGN KEY ([InvoiceId]) REFERENCES [Invoice] ([InvoiceId]) ON DELETE NO ACTION ON UPDATE NO ACTION,
    FOREIGN KEY ([TrackId]) REFERENCES [Track] ([TrackId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [Playlist]([PlaylistId] INTEGER NOT NULL, [Name] NVARCHAR(120), CONSTRAINT [PK_Playlist] PRIMARY KEY ([PlaylistId]));
CREATE TABLE [PlaylistTrack]([PlaylistId] INTEGER NOT NULL, [TrackId] INTEGER NOT NULL,
    CONSTRAINT [PK_PlaylistTrack] PRIMARY KEY ([PlaylistId], [TrackId]),
    FOREIGN KEY ([PlaylistId]) REFERENCES [Playlist] ([PlaylistId]) ON DELETE NO ACTION ON UPDATE NO ACTION,
    FOREIGN KEY ([TrackId]) REFERENCES [Track] ([TrackId]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE INDEX [IFK_AlbumArtistId] ON [Album] ([ArtistId]);
CREATE INDEX [IFK_TrackAlbumId] ON [Track] ([AlbumId]);
CREATE INDEX [IFK_InvoiceLineTrackId] ON [InvoiceLine] ([TrackId]);
CREATE INDEX [IFK_PlaylistTrackTrackId] ON [PlaylistTrack] ([TrackId]);
"""

NORTHWIND = """
CREATE TABLE [Categories]([CategoryID] INTEGER PRIMARY KEY AUTOINCREMENT, [CategoryName] TEXT, [Description] TEXT,
    [Picture] BLOB);
CREATE TABLE [Customers]([CustomerID] TEXT, [CompanyName] TEXT, [ContactName] TEXT, [City] TEXT, [Country] TEXT,
    [Phone] TEXT, [Created] TEXT DEFAULT (strftime('%Y-%m-%d', 'now')),
    PRIMARY KEY (`CustomerID`), CHECK ([Phone] GLOB '[(0-9]*'));
CREATE TABLE [Employees]([EmployeeID] INTEGER PRIMARY KEY AUTOINCREMENT, [LastName] TEXT, [FirstName] TEXT,
    [Title] TEXT, [BirthDate] DATE, [HireDate] DATE, [City] TEXT, [ReportsTo] INTEGER,
    FOREIGN KEY ([ReportsTo]) REFERENCES [Employees] ([EmployeeID]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [Regions]([RegionID] INTEGER NOT NULL PRIMARY KEY, [RegionDescription] TEXT NOT NULL);
CREATE TABLE [Territories]([TerritoryID] TEXT NOT NULL, [TerritoryDescription] TEXT NOT NULL,
    [RegionID] INTEGER NOT NULL, PRIMARY KEY ("TerritoryID"),
    FOREIGN KEY ([RegionID]) REFERENCES [Regions] ([RegionID]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [EmployeeTerritories]([EmployeeID] INTEGER NOT NULL, [TerritoryID] TEXT NOT NULL,
    PRIMARY KEY ("EmployeeID", "TerritoryID"),
    FOREIGN KEY ([EmployeeID]) REFERENCES [Employees] ([EmployeeID]) ON DELETE NO ACTION ON UPDATE NO ACTION,
    FOREIGN KEY ([TerritoryID]) REFERENCES [Territories] ([TerritoryID]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [Shippers]([ShipperID] INTEGER PRIMARY KEY AUTOINCREMENT, [CompanyName] TEXT NOT NULL, [Phone] TEXT);
CREATE TABLE [Suppliers]([SupplierID] INTEGER PRIMARY KEY AUTOINCREMENT, [CompanyName] TEXT NOT NULL,
    [ContactName] TEXT, [Country] TEXT, [HomePage] TEXT);
CREATE TABLE [Products]([ProductID] INTEGER PRIMARY KEY AUTOINCREMENT, [ProductName] TEXT NOT NULL,
    [SupplierID] INTEGER, [CategoryID] INTEGER, [QuantityPerUnit] TEXT, [UnitPrice] NUMERIC DEFAULT 0,
    [UnitsInStock] INTEGER DEFAULT 0, [UnitsOnOrder] INTEGER DEFAULT 0, [ReorderLevel] INTEGER DEFAULT 0,
    [Discontinued] TEXT NOT NULL DEFAULT '0',
    CHECK ([UnitPrice]>=(0)), CHECK ([ReorderLevel]>=(0)), CHECK ([UnitsInStock]>=(0)), CHECK ([UnitsOnOrder]>=(0)),
    FOREIGN KEY ([CategoryID]) REFERENCES [Categories] ([CategoryID]) ON DELETE NO ACTION ON UPDATE NO ACTION,
    FOREIGN KEY ([SupplierID]) REFERENCES [Suppliers] ([SupplierID]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [Orders]([OrderID] INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, [CustomerID] TEXT, [EmployeeID] INTEGER,
    [OrderDate] DATETIME DEFAULT (datetime('now')), [RequiredDate] DATETIME, [ShippedDate] DATETIME,
    [ShipVia] INTEGER, [Freight] NUMERIC DEFAULT 0, [ShipName] TEXT, [ShipCity] TEXT, [ShipCountry] TEXT,
    FOREIGN KEY ([EmployeeID]) REFERENCES [Employees] ([EmployeeID]) ON DELETE NO ACTION ON UPDATE NO ACTION,
    FOREIGN KEY ([CustomerID]) REFERENCES [Customers] ([CustomerID]) ON DELETE NO ACTION ON UPDATE NO ACTION,
    FOREIGN KEY ([ShipVia]) REFERENCES [Shippers] ([ShipperID]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE TABLE [Order Details]([OrderID] INTEGER NOT NULL, [ProductID] INTEGER NOT NULL,
    [UnitPrice] NUMERIC NOT NULL DEFAULT 0, [Quantity] INTEGER NOT NULL DEFAULT 1, [Discount] REAL NOT NULL DEFAULT 0,
    PRIMARY KEY ("OrderID", "ProductID"),
    CHECK ([Discount]>=(0) AND [Discount]<=(1)), CHECK ([Quantity]>(0)), CHECK ([UnitPrice]>=(0)),
    FOREIGN KEY ([OrderID]) REFERENCES [Orders] ([OrderID]) ON DELETE NO ACTION ON UPDATE NO ACTION,
    FOREIGN KEY ([ProductID]) REFERENCES [Products] ([ProductID]) ON DELETE NO ACTION ON UPDATE NO ACTION);
CREATE VIEW [Order Subtotals] AS SELECT [Order Details].OrderID,
    Sum(([Order Details].UnitPrice*Quantity*(1-Discount)/100)*100) AS Subtotal
    FROM [Order Details] GROUP BY [Order Details].OrderID;
CREATE VIEW [Customer and Suppliers by City] AS SELECT City, CompanyName, ContactName, 'Customers' AS Relationship
    FROM Customers UNION SELECT Country, CompanyName, ContactName, 'Suppliers' FROM Suppliers;
CREATE VIEW [Alphabetical list of products] AS SELECT Products.*, Categories.CategoryName FROM Categories
    INNER JOIN Products ON Categories.CategoryID = Products.CategoryID WHERE (((Products.Discontinued)=0));
"""

COUNTRIES = ["Germany", "France", "Brazil", "USA", "UK", "Spain", "Canada", "Italy", "Mexico", "Sweden"]
CUSTOMER_IDS = ["ALFKI", "ANATR", "ANTON", "AROUT", "BERGS", "BLAUS", "BLONP", "BOLID", "BONAP", "VINET", "TOMSP",
                "HANAR", "VICTE", "SUPRD", "CHOPS", "RICSU", "WELLI", "HILAA", "ERNSH", "CENTC"]


def _write(path: Path, schema: str, tables: dict[str, Iterator[tuple]]) -> Path:
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA journal_mode=wal").fetchall()
    connection.execute(schema)
    with connection:
        for table, rows in tables.items():
            first = next(rows, None)
            if first is None:
                continue
            marks = ", ".join("?" * len(first))
            connection.executemany(f'INSERT INTO "{table}" VALUES ({marks})', _chain(first, rows))
    connection.close()
    return path


def _chain(first: tuple, rest: Iterator[tuple]) -> Iterator[tuple]:
    yield first
    yield from rest


def _moment(rng: random.Random, year: int) -> str:
    return f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 00:00:00"


def build_chinook(path: Path, *, tracks: int = 300, seed: int = 1) -> Path:
    """A Chinook-like database: `tracks` tracks on tracks/10 albums, as many invoice lines, 20 playlists."""
    rng = random.Random(seed)
    albums, artists, customers, invoices = max(tracks // 10, 1), max(tracks // 20, 1), 30, max(tracks // 3, 1)
    genres, media = ["Rock", "Jazz", "Metal", "Blues", "Latin", "Pop"], ["MPEG audio file", "AAC audio file"]
    employees = [(1, "Adams", "Andrew", "General Manager", None, "1962-02-18 00:00:00", "2002-08-14 00:00:00",
                  "Edmonton", "Canada", "andrew@chinookcorp.com")]
    employees += [(i, f"Last{i}", f"First{i}", "Sales Support Agent", rng.randint(1, i - 1), _moment(rng, 1970),
                   _moment(rng, 2003), "Calgary", "Canada", f"e{i}@chinookcorp.com") for i in range(2, 9)]
    lines = ((i, rng.randint(1, invoices), rng.randint(1, tracks), 0.99, rng.randint(1, 3))
             for i in range(1, tracks + 1))
    return _write(path, CHINOOK, {
        "Artist": ((i, f"Artist {i}") for i in range(1, artists + 1)),
        "Album": ((i, f"Album {i}", rng.randint(1, artists)) for i in range(1, albums + 1)),
        "Genre": ((i, name) for i, name in enumerate(genres, 1)),
        "MediaType": ((i, name) for i, name in enumerate(media, 1)),
        "Track": ((i, f"Track {i}", rng.randint(1, albums), rng.randint(1, len(media)), rng.randint(1, len(genres)),
                   rng.choice([None, "Angus Young", "Miles Davis"]), rng.randint(60_000, 600_000),
                   rng.randint(1_000_000, 10_000_000), rng.choice([0.99, 1.99])) for i in range(1, tracks + 1)),
        "Employee": iter(employees),
        "Customer": ((i, f"First{i}", f"Last{i}", None, "Paris", rng.choice(COUNTRIES), f"c{i}@example.com",
                      rng.randint(2, 8)) for i in range(1, customers + 1)),
        "Invoice": ((i, rng.randint(1, customers), _moment(rng, 2009 + i % 5), "Paris", "France",
                     round(rng.randint(1, 2000) / 100, 2)) for i in range(1, invoices + 1)),
        "InvoiceLine": lines,
        "Playlist": ((i, f"Playlist {i}") for i in range(1, 21)),
        "PlaylistTrack": ((p, t) for p in range(1, 21) for t in sorted(rng.sample(range(1, tracks + 1),
                                                                                  min(10, tracks)))),
    })


def build_northwind(path: Path, *, order_lines: int = 600, seed: int = 2) -> Path:
    """A Northwind-like database with about `order_lines` rows in "Order Details" (1-4 products per order)."""
    rng = random.Random(seed)
    products, orders = 77, max(order_lines * 2 // 5, 1)

    def details() -> Iterator[tuple]:
        made = 0
        for order in range(1, orders + 1):
            for product in rng.sample(range(1, products + 1), min(rng.randint(1, 4), order_lines - made)):
                yield order, product, rng.randint(200, 26300) / 100, rng.randint(1, 120), rng.choice([0, 0.05, 0.1, 0.25])
                made += 1
            if made >= order_lines:
                return

    return _write(path, NORTHWIND, {
        "Categories": ((i, name, f"{name} and more", b"\x89PNG" + bytes([i])) for i, name in enumerate(
            ["Beverages", "Condiments", "Confections", "Dairy Products", "Grains/Cereals", "Meat/Poultry",
             "Produce", "Seafood"], 1)),
        "Customers": ((code, f"Company {code}", f"Contact {code}", rng.choice(["Berlin", "Reims", "Lyon"]),
                       rng.choice(COUNTRIES), f"({i:03d}) 555-01{i:02d}", "2020-01-01")
                      for i, code in enumerate(CUSTOMER_IDS, 1)),
        "Employees": ((i, f"Last{i}", f"First{i}", "Sales Representative", f"19{60 + i}-0{i % 9 + 1}-1{i % 9}",
                       f"20{10 + i}-05-01", "Seattle", None if i == 1 else rng.randint(1, i - 1)) for i in range(1, 10)),
        "Regions": ((i, name) for i, name in enumerate(["Eastern", "Western", "Northern", "Southern"], 1)),
        "Territories": ((f"{1000 + i:05d}", f"Territory {i}", i % 4 + 1) for i in range(1, 31)),
        "EmployeeTerritories": ((i % 9 + 1, f"{1000 + i:05d}") for i in range(1, 31)),
        "Shippers": ((i, name, f"(503) 555-98{i:02d}") for i, name in enumerate(
            ["Speedy Express", "United Package", "Federal Shipping"], 1)),
        "Suppliers": ((i, f"Supplier {i}", f"Contact {i}", rng.choice(COUNTRIES), None) for i in range(1, 30)),
        "Products": ((i, f"Product {i}", rng.randint(1, 29), rng.randint(1, 8), "10 boxes x 20 bags",
                      rng.randint(250, 26300) / 100, rng.randint(0, 120), rng.choice([0, 10, 40]), rng.choice([0, 5, 25]),
                      rng.choice(["0", "0", "1"])) for i in range(1, products + 1)),
        "Orders": ((i, rng.choice(CUSTOMER_IDS), rng.randint(1, 9), _moment(rng, 1996 + i % 3), _moment(rng, 1998),
                    rng.choice([None, _moment(rng, 1998)]), rng.randint(1, 3), rng.randint(1, 100_000) / 100,
                    "Ship name", "Reims", "France") for i in range(1, orders + 1)),
        "Order Details": details(),
    })
